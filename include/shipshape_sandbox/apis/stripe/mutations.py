"""The writes: `POST /v1/charges/{id}` and `POST /v1/payment_intents/{id}` (shipping, metadata,
receipt_email, description, ...), validated as Stripe does before anything changes; a charge update
emits `charge.updated`, a PaymentIntent update emits nothing (Stripe has no such event).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipshape_sandbox.apis.stripe.errors import StripeError, _invalid, _missing, _no_such, rate_limit_error
from shipshape_sandbox.apis.stripe.listing import RESOURCES, expand_object, expand_paths
from shipshape_sandbox.apis.stripe.params import _as_int, _as_list, _as_str, _check_known
from shipshape_sandbox.apis.stripe.render import render_charge, render_payment_intent, render_shipping
from shipshape_sandbox.world import Address, StripeShipping, epoch

if TYPE_CHECKING:
    from typing import Any

    from shipshape_sandbox.apis.stripe.api import Ctx, _Api


_SHIPPING_KEYS = ("address", "carrier", "name", "phone", "tracking_number")
_ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")
_CHARGE_UPDATE = ("customer", "description", "expand", "fraud_details", "metadata", "receipt_email", "shipping",
                  "transfer_group")  # fmt: skip
_PI_UPDATE = (
    "amount", "capture_method", "currency", "customer", "description", "expand", "metadata",
    "payment_method_types", "receipt_email", "setup_future_usage", "shipping", "statement_descriptor",
    "statement_descriptor_suffix", "transfer_group",
)  # fmt: skip
# Real PaymentIntent update parameters that touch payment machinery the sandbox does not emulate.
_PI_NOT_EMULATED = (
    "allowed_payment_method_types", "amount_details", "application_fee_amount", "customer_account",
    "excluded_payment_method_types", "hooks", "payment_details", "payment_method", "payment_method_configuration",
    "payment_method_data", "payment_method_options", "transfer_data",
)  # fmt: skip
_PI_EDITABLE_STATUSES = ("requires_payment_method", "requires_confirmation", "requires_action")


def _shipping_from_params(value: Any) -> StripeShipping:
    if not isinstance(value, dict):
        raise _invalid("Invalid object", param="shipping", code="parameter_invalid_object")
    _check_known(value, _SHIPPING_KEYS, "shipping")
    if "name" not in value:
        raise _missing("shipping[name]")
    if "address" not in value:
        raise _missing("shipping[address]")
    address = value["address"]
    if not isinstance(address, dict):
        raise _invalid("Invalid object", param="shipping[address]", code="parameter_invalid_object")
    _check_known(address, _ADDRESS_KEYS, "shipping[address]")
    fields = {k: _as_str(v, f"shipping[address][{k}]") for k, v in address.items()}
    scalars = {k: _as_str(value[k], f"shipping[{k}]") for k in ("carrier", "name", "phone", "tracking_number") if k in value}
    name = scalars["name"]
    first, _, last = name.partition(" ")

    def opt(text: str | None) -> str | None:
        return text or None

    # Stripe's address has no name and only a country code: the Address record keeps what Stripe keeps.
    return StripeShipping(
        name=name,
        address=Address(
            first_name=first,
            last_name=last,
            address1=opt(fields.get("line1")),
            address2=opt(fields.get("line2")),
            city=opt(fields.get("city")),
            province=opt(fields.get("state")),
            province_code=opt(fields.get("state")),
            zip=opt(fields.get("postal_code")),
            country=opt(fields.get("country")),
            country_code=opt(fields.get("country")),
            phone=opt(scalars.get("phone")),
        ),
        carrier=opt(scalars.get("carrier")),
        tracking_number=opt(scalars.get("tracking_number")),
        phone=opt(scalars.get("phone")),
    )


def _merged_metadata(current: dict[str, str], value: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """Stripe's metadata update: keys merge, an empty value unsets a key, an empty string clears all.
    Returns the new metadata and the previous values of the keys that changed."""
    if value == "":
        return {}, dict(current)
    if not isinstance(value, dict):
        raise _invalid("Invalid object", param="metadata", code="parameter_invalid_object")
    new = dict(current)
    previous: dict[str, Any] = {}
    for k, v in value.items():
        v = _as_str(v, f"metadata[{k}]")
        if len(k) > 40:
            raise _invalid("Metadata keys can have up to 40 characters.", param=f"metadata[{k}]")
        if len(v) > 500:
            raise _invalid("Metadata values can have up to 500 characters.", param=f"metadata[{k}]")
        if v == "":
            if k in new:
                previous[k] = new.pop(k)
        elif new.get(k) != v:
            previous[k] = new.get(k)
            new[k] = v
    if len(new) > 50:
        raise _invalid("You can specify up to 50 metadata keys.", param="metadata")
    return new, previous


def _email(value: Any, param: str) -> str | None:
    text = _as_str(value, param)
    if text == "":
        return None
    local, at, domain = text.partition("@")
    if not at or not local or "." not in domain:
        raise _invalid(f"Invalid email address: {text}", param=param, code="email_invalid")
    return text


def _update_charge(api: _Api, ctx: Ctx, charge_id: str) -> tuple[int, dict, bool]:
    params = ctx.params
    _check_known(params, _CHARGE_UPDATE)
    expand = expand_paths(params, listing=False)
    shipping = _shipping_from_params(params["shipping"]) if "shipping" in params else None
    metadata_param = params.get("metadata")
    email = _email(params["receipt_email"], "receipt_email") if "receipt_email" in params else None
    extras_in: dict[str, Any] = {}
    for name in ("customer", "description", "transfer_group"):
        if name in params:
            extras_in[name] = _as_str(params[name], name) or None
    if "fraud_details" in params:
        fraud = params["fraud_details"]
        if not isinstance(fraud, dict):
            raise _invalid("Invalid object", param="fraud_details", code="parameter_invalid_object")
        _check_known(fraud, ("user_report",), "fraud_details")
        report = _as_str(fraud.get("user_report", ""), "fraud_details[user_report]")
        if report not in ("", "fraudulent", "safe"):
            raise _invalid("Invalid fraud_details[user_report]: must be one of fraudulent or safe",
                           param="fraud_details[user_report]")
        extras_in["fraud_details"] = {"user_report": report} if report else {}

    # Validation is over: the endpoint executes from here on (and its result is saved for the key).
    state = api.state
    charge = api.world.stripe_charges.get(charge_id)
    if charge is None:
        raise _no_such("charge", charge_id, "id", 404)
    before = render_charge(state, charge)
    previous: dict[str, Any] = {}
    if metadata_param is not None:
        new_metadata, prev_md = _merged_metadata(charge.metadata, metadata_param)
        if prev_md:
            previous["metadata"] = prev_md
            charge.metadata = new_metadata  # replaced, not mutated: earlier event snapshots keep theirs
    if shipping is not None:
        rendered = render_shipping(shipping)
        if rendered != before["shipping"]:
            previous["shipping"] = before["shipping"]
            charge.shipping = shipping
    if "receipt_email" in params and email != charge.receipt_email:
        previous["receipt_email"] = charge.receipt_email
        charge.receipt_email = email
    if extras_in:
        current = state.extras.get(charge.id, {})
        changed = {k: v for k, v in extras_in.items() if before.get(k) != v}
        if changed:
            previous.update({k: before.get(k) for k in changed})
            state.extras[charge.id] = {**current, **changed}
    if previous:
        from shipshape_sandbox import lifecycle

        api.world.changed()
        event = lifecycle.stripe_event(api.world, "charge.updated", charge, previous)
        extras = state.extras.get(charge.id)
        state.event_requests[event.id] = (ctx.request_id, ctx.idempotency_key, dict(extras) if extras else None)
    return 200, expand_object(
        api, RESOURCES["charge"], render_charge(state, charge), expand), bool(previous)


def _update_payment_intent(api: _Api, ctx: Ctx, pi_id: str) -> tuple[int, dict, bool]:
    params = ctx.params
    not_emulated = sorted(k for k in params if k in _PI_NOT_EMULATED)
    _check_known(params, _PI_UPDATE + _PI_NOT_EMULATED)
    if not_emulated:
        raise _invalid(
            f"The sandbox does not emulate updating {not_emulated[0]} on a PaymentIntent.", param=not_emulated[0]
        )
    expand = expand_paths(params, listing=False)
    shipping: StripeShipping | None | str = "unchanged"
    if "shipping" in params:
        shipping = None if params["shipping"] == "" else _shipping_from_params(params["shipping"])
    metadata_param = params.get("metadata")
    email = _email(params["receipt_email"], "receipt_email") if "receipt_email" in params else None
    amount = _as_int(params["amount"], "amount") if "amount" in params else None
    if amount is not None and amount < 1:
        raise _invalid("This value must be greater than or equal to 1.", param="amount",
                       code="parameter_invalid_integer")
    currency = _as_str(params["currency"], "currency").lower() if "currency" in params else None
    capture_method = _as_str(params["capture_method"], "capture_method") if "capture_method" in params else None
    if capture_method is not None and capture_method not in ("automatic", "automatic_async", "manual"):
        raise _invalid("Invalid capture_method: must be one of automatic, automatic_async, or manual",
                       param="capture_method")
    extras_in: dict[str, Any] = {}
    for name in ("statement_descriptor", "statement_descriptor_suffix", "transfer_group", "setup_future_usage"):
        if name in params:
            extras_in[name] = _as_str(params[name], name) or None
    if "payment_method_types" in params:
        extras_in["payment_method_types"] = [
            _as_str(t, "payment_method_types") for t in _as_list(params["payment_method_types"], "payment_method_types")
        ]

    state = api.state
    pi = api.world.stripe_payment_intents.get(pi_id)
    if pi is None:
        raise _no_such("payment_intent", pi_id, "id", 404)
    if api.sandbox.rate_limited:
        ok, _ = state.pi_update_buckets[pi.id].try_take(1)
        if not ok:
            raise rate_limit_error()
    for name, value in (("amount", amount), ("currency", currency), ("capture_method", capture_method),
                        ("payment_method_types", extras_in.get("payment_method_types")),
                        ("setup_future_usage", extras_in.get("setup_future_usage"))):
        if value is not None and pi.status not in _PI_EDITABLE_STATUSES:
            raise StripeError(
                400,
                f"This PaymentIntent's {name} could not be updated because it has a status of {pi.status}. You "
                "may only update the " + name + " of a PaymentIntent with one of the following statuses: "
                + ", ".join(_PI_EDITABLE_STATUSES) + ".",
                code="payment_intent_unexpected_state",
                param=name,
                cacheable=True,
            )
    before = render_payment_intent(state, pi)
    changed = False
    if metadata_param is not None:
        new_metadata, prev_md = _merged_metadata(pi.metadata, metadata_param)
        if prev_md:
            pi.metadata, changed = new_metadata, True
    if shipping != "unchanged" and render_shipping(shipping) != before["shipping"]:
        pi.shipping, changed = shipping, True
    if "receipt_email" in params and email != pi.receipt_email:
        pi.receipt_email, changed = email, True
    if "description" in params:
        description = _as_str(params["description"], "description") or None
        if description != pi.description:
            pi.description, changed = description, True
    if "customer" in params:
        customer = _as_str(params["customer"], "customer") or None
        if customer != pi.customer:
            pi.customer, changed = customer, True
    if amount is not None and amount != pi.amount:
        pi.amount, changed = amount, True
    if currency is not None and currency != pi.currency:
        pi.currency, changed = currency, True
    if capture_method is not None and capture_method != pi.capture_method:
        pi.capture_method, changed = capture_method, True
    if extras_in:
        current = state.extras.get(pi.id, {})
        diff = {k: v for k, v in extras_in.items() if before.get(k) != v}
        if diff:
            state.extras[pi.id] = {**current, **diff}
            changed = True
    if changed:
        # Stripe has no payment_intent.updated event: an update changes the object and emits nothing.
        pi.updated = epoch(api.world.clock)
        api.world.changed()
    return 200, expand_object(
        api, RESOURCES["payment_intent"], render_payment_intent(state, pi), expand), changed
