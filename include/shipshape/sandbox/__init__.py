"""The sandbox: a local, faithful stand-in for Shopify, Stripe, PayPal, ShipHero and a carrier-tracking API,
seeded with a merchant's world in which the systems disagree in known ways, plus its ground truth."""
