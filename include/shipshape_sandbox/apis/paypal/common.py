"""What the PayPal emulation's parts share: the API's name, how Transaction Search codes captures and
refunds (event codes, status codes), and the seeded ids (merchant, app) it makes.
"""

from __future__ import annotations

import hashlib

API = "paypal"
CAPTURE_T_CODE = "T0006"  # "PayPal Checkout APIs": what an Orders v2 capture is reported as
REFUND_T_CODE = "T1107"  # "Payment refund, initiated by merchant"
CAPTURE_STATUS_CODES = {
    "COMPLETED": "S",
    "PARTIALLY_REFUNDED": "S",
    "REFUNDED": "V",
    "PENDING": "P",
    "DECLINED": "D",
    "FAILED": "D",
}
REFUND_STATUS_CODES = {"COMPLETED": "S", "PENDING": "P", "FAILED": "D", "CANCELLED": "D"}
PAYER_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # PayPal account ids: ^[2-9A-HJ-NP-Z]{13}$


def _seeded(seed: int, label: str, n: int, alphabet: str) -> str:
    digest = hashlib.sha256(f"shipshape-sandbox:{seed}:{label}".encode()).digest()
    value = int.from_bytes(digest, "big")
    out = []
    for _ in range(n):
        value, r = divmod(value, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)
