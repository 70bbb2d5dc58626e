"""What the tests share beyond fixtures: paths, service helpers, API and report builders."""
