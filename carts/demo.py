"""Products of the demo catalog (fixtures/catalog.json) that examples, the
demo accounts' instructions, the tests and the benchmarks name, and the demo
line `make run` suggests adding. Plain constants: no Django import."""

LOAFERS = "L9ECAV7KIM"  # 89.99
MUG = "6E92ZMYYFZ"  # 8.99
SHAKERS = "LS4PSXUNUM"  # Salt & Pepper Shakers, 18.49
SUNGLASSES = "OLJCESPC7Z"  # 19.99
CANDLE_HOLDER = "0PUK6V6EV0"  # 18.99
TANK_TOP = "66VCHSJNUP"  # 18.99

DEMO_LINE = {"product_id": LOAFERS, "quantity": 8}
