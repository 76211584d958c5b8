"""The sandbox: a local, faithful stand-in for Shopify, Stripe, PayPal, ShipHero and a carrier-tracking API,
seeded with a merchant's world in which the systems disagree in known ways, plus its ground truth.

A package of its own beside the product (`shipshape`), installed with the project's `sandbox` extra:
the product never imports it. It also holds what drives the product against it: `shipshape demo`
(`demo`, `cli`), the raw dump (`dump`) and the benchmarks (`benchmarks`)."""
