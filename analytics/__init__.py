"""Pure computation (funnel and experiment statistics, attribution, response curves, the budget optimizer,
anomaly detection): numpy, scipy and pandas in, numbers out. No I/O, no Dash."""
