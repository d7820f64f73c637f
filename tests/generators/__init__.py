"""Generators of test data, shared by the property tests, the policy tests and the fuzzer.

- `policies`: well-typed policies, their schemas and inputs (hypothesis or a seeded random);
- `mutations`: policy texts and inputs changed a little (for the parser and the input checks);
- `promotion_inputs`: valid inputs of the promotion and budget contracts, at their boundaries;
- `seller_portfolio_inputs`: valid inputs of the seller-health and portfolio-cap contracts, and
  large seller-health inputs for the benchmark.
"""
