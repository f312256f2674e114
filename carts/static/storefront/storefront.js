// The cart service's reference storefront: how a shop's page uses the API
// (docs/API.md). Read it top to bottom: configuration, the one function that
// talks to the API, then one function per thing a shopper does.
"use strict";

// --- Configuration ---------------------------------------------------------

// The API: ?api=http://127.0.0.1:8000 when it is on another origin than this
// page (that API lists this page's origin in CART_CORS_ALLOWED_ORIGINS),
// else this page's own origin.
const API = (new URLSearchParams(location.search).get("api") || location.origin)
  .replace(/\/+$/, "");

// Automatic retries of a failed add, after these pauses (milliseconds).
const RETRY_PAUSES = [300, 1000];

// --- State -----------------------------------------------------------------

// Who the page acts as: {userId, token, guest}. Kept in localStorage, per API,
// so every tab of this origin shares the cart (and a reload keeps it).
const ACCOUNT_KEY = `cart-account ${API}`;
let account = JSON.parse(localStorage.getItem(ACCOUNT_KEY) || "null");
let cart = null; // the cart as the API last answered it
let etag = null; // its version: sent as If-Match with every change
const productNames = new Map(); // product id -> name, from the catalog
const nameOf = (productId) => productNames.get(productId) ?? productId;

function saveAccount(value) {
  account = value;
  if (value) localStorage.setItem(ACCOUNT_KEY, JSON.stringify(value));
  else localStorage.removeItem(ACCOUNT_KEY);
}

// --- Talking to the API ----------------------------------------------------

// An error answer (or no answer: status 0), with the API's error code and
// message (docs/API.md, "Errors"), and the token the request carried.
class ApiError extends Error {
  constructor(status, error, token) {
    super(error.detail);
    this.status = status;
    this.code = error.code;
    this.token = token;
  }
}

// One request. Resolves to {status, body, headers}; rejects with an ApiError.
async function api(method, path, { body, headers = {}, token = account?.token } = {}) {
  const request = { method, headers: { ...headers }, cache: "no-store" };
  if (token) request.headers.Authorization = `Token ${token}`;
  if (body !== undefined) {
    request.headers["Content-Type"] = "application/json";
    request.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, request);
  } catch {
    // The browser shows no details: the network, or a CORS refusal.
    throw new ApiError(0, {
      code: "no_answer",
      detail: `The cart service at ${API} did not answer (is it running, and `
        + `does CART_CORS_ALLOWED_ORIGINS list ${location.origin}?)`,
    }, token);
  }
  // The API answers JSON; a proxy's own error page may not.
  const isJson = response.headers.get("Content-Type")?.startsWith("application/json");
  const data = isJson ? await response.json() : null;
  if (!response.ok) {
    throw new ApiError(response.status, data?.errors?.[0]
      ?? { code: `http_${response.status}`, detail: response.statusText }, token);
  }
  return { status: response.status, body: data, headers: response.headers };
}

// A key for Idempotency-Key: 32 random hex digits (crypto.randomUUID needs
// HTTPS or localhost; getRandomValues works everywhere).
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const cartPath = () => `/cart/${encodeURIComponent(account.userId)}`;

// --- What the shopper does -------------------------------------------------

async function loadCatalog() {
  const { body: products } = await api("GET", "/products", { token: null });
  for (const product of products) productNames.set(product.id, product.name);
  renderCatalog(products);
}

async function loadCart() {
  if (!account) return render(null);
  const answer = await api("GET", cartPath());
  etag = answer.headers.get("ETag");
  render(answer.body);
}

// A guest is created at the first add, not for every visitor who only looks.
async function ensureAccount() {
  if (account) return;
  const { body: guest } = await api("POST", "/guests", { token: null });
  saveAccount({ userId: guest.user_id, token: guest.token, guest: true });
}

// A POST with an Idempotency-Key that got no answer (or 502-504, or 409
// idempotency_key_in_use) is sent again, with the same key: if the first was
// applied after all, the API replays its answer instead of applying it twice.
async function withRetries(send) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      const retryable = error.status === 0 || error.status >= 502
        || error.code === "idempotency_key_in_use";
      if (!retryable || attempt === RETRY_PAUSES.length) throw error;
      await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSES[attempt]));
    }
  }
}

// Adds need no If-Match: adding is right whatever the cart holds now.
async function addToCart(productId) {
  await ensureAccount();
  const key = newKey(); // one per add, kept across its retries
  const answer = await withRetries(() => api("POST", cartPath(), {
    body: { product_id: productId, quantity: 1 },
    headers: { "Idempotency-Key": key },
  }));
  const replayed = answer.headers.get("Idempotent-Replayed") === "true";
  await loadCart();
  say(replayed ? `Added ${nameOf(productId)} (a retry: the first attempt had been `
    + "applied)." : `Added ${nameOf(productId)}.`);
}

// Changes of what the shopper saw carry If-Match: 412 means another tab (or
// device) changed the cart meanwhile; nothing was changed here.
function change(method, path, body) {
  return api(method, path, { body, headers: { "If-Match": etag } });
}

async function setQuantity(productId, quantity) {
  await change("PUT", `${cartPath()}/items/${encodeURIComponent(productId)}`,
    { quantity });
  await loadCart();
  say(quantity ? `${nameOf(productId)}: quantity ${quantity}.`
    : `Removed ${nameOf(productId)}.`);
}

async function removeLine(productId) {
  await change("DELETE", `${cartPath()}/items/${encodeURIComponent(productId)}`);
  await loadCart();
  say(`Removed ${nameOf(productId)}.`);
}

async function reprice() {
  const answer = await change("POST", `${cartPath()}/reprice`);
  etag = answer.headers.get("ETag");
  render(answer.body);
  say("You accepted the current prices.");
}

// Signing in: the guest's cart merges into the shopper's (POST …/merge with
// the guest's token), and the page says what the limits clamped or dropped.
// (A repeated merge is safe without a key: it answers "already_merged".)
async function signIn(userId, token) {
  if (!account?.guest) {
    saveAccount({ userId, token, guest: false });
    return loadCart();
  }
  const guestToken = account.token;
  const answer = await api("POST", `/cart/${encodeURIComponent(userId)}/merge`, {
    token,
    body: { guest_token: guestToken },
  });
  saveAccount({ userId, token, guest: false });
  etag = answer.headers.get("ETag");
  render(answer.body.cart);
  renderMergeReport(answer.body);
  say(`Signed in as ${userId}; your guest cart was merged.`);
}

// The hold is of the cart the shopper saw (If-Match), retried as adds are.
async function checkout() {
  const key = newKey();
  const answer = await withRetries(() => api("POST", `${cartPath()}/checkout`, {
    headers: { "If-Match": etag, "Idempotency-Key": key },
  }));
  document.getElementById("order").hidden = true;
  etag = answer.headers.get("ETag");
  render(answer.body.cart);
  say("Your cart is held: take the payment, then complete.");
}

async function completeCheckout() {
  const held = cart.checkout;
  const answer = await api("POST", `${cartPath()}/checkout/${held.id}/complete`);
  const order = answer.body;
  document.getElementById("order-id").textContent = order.checkout_id;
  document.getElementById("order-total").textContent =
    `${order.subtotal} ${order.currency}`;
  document.getElementById("order").hidden = false;
  await loadCart();
  say("Thank you for your order.");
}

async function cancelCheckout() {
  const answer = await api("POST", `${cartPath()}/checkout/${cart.checkout.id}/cancel`);
  etag = answer.headers.get("ETag");
  render(answer.body);
  say("Checkout cancelled: your cart can change again.");
}

// --- Showing things --------------------------------------------------------
// Everything the API sent goes in as text (textContent), never as HTML.

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function renderCatalog(products) {
  const list = document.getElementById("catalog");
  list.replaceChildren(...products.map((product) => {
    const item = element("li", undefined, { "data-product-id": product.id });
    const add = element("button", "Add", { type: "button", class: "add" });
    add.addEventListener("click", () => run(() => addToCart(product.id)));
    item.append(element("span", product.name, { class: "name" }),
      element("span", `${product.price} ${product.currency}`, { class: "price" }), add);
    return item;
  }));
}

function render(newCart) {
  cart = newCart;
  document.getElementById("account-name").textContent = !account ? "a new guest"
    : account.guest ? `guest ${account.userId}` : account.userId;
  document.getElementById("sign-out").hidden = !account;
  document.getElementById("sign-in").hidden = Boolean(account && !account.guest);

  const held = cart?.checkout ?? null;
  const rows = (cart?.items ?? []).map((line) => {
    const row = element("tr", undefined, { "data-product-id": line.product_id });
    if (!line.available) row.className = "unavailable";
    const quantity = element("input", undefined, {
      type: "number", min: "0", value: String(line.quantity), class: "quantity",
      "aria-label": `Quantity of ${line.name}`,
    });
    quantity.disabled = Boolean(held);
    quantity.addEventListener("change", () =>
      run(() => setQuantity(line.product_id, Number(quantity.value))));
    const remove = element("button", "Remove", { type: "button", class: "remove" });
    remove.disabled = Boolean(held);
    remove.addEventListener("click", () => run(() => removeLine(line.product_id)));
    const cell = (child) => { const td = element("td"); td.append(child); return td; };
    row.append(element("td", line.name), element("td", line.unit_price),
      cell(quantity), element("td", line.line_total, { class: "line-total" }),
      cell(remove));
    return row;
  });
  document.querySelector("#cart tbody").replaceChildren(...rows);
  document.getElementById("subtotal").textContent =
    `${cart?.subtotal ?? "0.00"} ${cart?.currency ?? ""}`.trim();

  // Warnings: the shopper accepts new prices before checking out.
  const warnings = (cart?.warnings ?? []).map((warning) => element("li",
    warning.code === "price_changed"
      ? `${nameOf(warning.product_id)}: the price changed from `
        + `${warning.added_unit_price} to ${warning.unit_price}.`
      : `${nameOf(warning.product_id)} is no longer available.`,
    { "data-code": warning.code }));
  document.getElementById("warnings").replaceChildren(...warnings);
  const priceChanged = warnings.some((w) => w.dataset.code === "price_changed");
  document.getElementById("reprice").hidden = !priceChanged || Boolean(held);

  document.getElementById("checkout").disabled =
    !cart?.items.length || priceChanged || Boolean(held);
  document.getElementById("hold").hidden = !held;
  if (held) {
    document.getElementById("hold-expires").textContent =
      new Date(held.expires_at).toLocaleTimeString();
    document.getElementById("hold-amount").textContent =
      `${cart.subtotal} ${cart.currency}`;
  }
}

function renderMergeReport({ merged, clamped, dropped }) {
  const report = document.getElementById("merge-report");
  const lines = [`Merged from your guest cart: ${merged.length} line(s).`,
    ...clamped.map((c) => `${nameOf(c.product_id)}: ${c.requested} wanted, `
      + `${c.applied} kept (the most one line may hold).`),
    ...dropped.map((d) => `${nameOf(d.product_id)} (${d.quantity}) not added: `
      + `${d.reason}.`)];
  report.replaceChildren(...lines.map((text) => element("p", text)));
  report.hidden = false;
}

function say(text, code = "") {
  const message = document.getElementById("message");
  message.textContent = text;
  message.dataset.code = code;
  message.className = code ? "error" : "";
  message.hidden = false;
}

// Every action goes through here, one at a time (so each change carries the
// ETag the previous one left): an error is shown with its code, and the cases
// a shop must handle are explained.
let queue = Promise.resolve();
function run(action) {
  queue = queue.then(() => attempt(action));
  return queue;
}

async function attempt(action) {
  try {
    await action();
  } catch (error) {
    if (!(error instanceof ApiError)) {
      console.error(error); // a bug of the page: say so, keep the queue going
      return say(`Unexpected error: ${error.message}`, "page_error");
    }
    if (error.status === 412) {
      await loadCart().catch(() => {});
      return say("Your cart changed in another tab: here it is now. Nothing was "
        + "changed; try again.", error.code);
    }
    if (error.status === 401 && account?.guest && error.token === account.token) {
      // A guest merged or purged elsewhere: start afresh.
      saveAccount(null);
      render(null);
    }
    // Show the cart as it is: a refused change changed nothing.
    if (account) await loadCart().catch(() => {});
    say(`${error.message} (${error.status || "no answer"} ${error.code})`, error.code);
  }
}

// --- Start -----------------------------------------------------------------

document.getElementById("api-base").textContent = API;
document.getElementById("refresh").addEventListener("click", () => run(loadCart));
document.getElementById("reprice").addEventListener("click", () => run(reprice));
document.getElementById("checkout").addEventListener("click", () => run(checkout));
document.getElementById("complete").addEventListener("click", () => run(completeCheckout));
document.getElementById("cancel").addEventListener("click", () => run(cancelCheckout));
document.getElementById("sign-out").addEventListener("click", () => {
  saveAccount(null);
  render(null);
  say("Signed out.");
});
document.getElementById("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  run(() => signIn(form.user.value.trim(), form.token.value.trim()));
});
render(null);
run(async () => {
  await loadCatalog();
  await loadCart();
}).finally(() => {
  document.body.dataset.ready = "true"; // for the browser tests
});
