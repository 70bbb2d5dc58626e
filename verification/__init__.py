"""JCM methodology calculations: pure functions, with parameter tables as versioned data.

Slice landed so far (issue 3 continues): the methodologies' equations, the parameter
tables, rounding and the conservative calibration correction. Period aggregation from the
stores and the monitoring report come next.
"""
