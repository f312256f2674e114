"""The types of cart events (docs/API.md, "Events"): what an endpoint may
subscribe to."""

EVENT_TYPES = (
    "cart.item_added",
    "cart.item_updated",
    "cart.item_removed",
    "cart.cleared",
    "cart.merged",
    "cart.checkout_held",
    "cart.checkout_completed",
    "cart.checkout_released",
    "cart.expired",
    "cart.repriced",
    "cart.edited",
)
