import os

from hypothesis import settings

# No per-example deadline: a loaded CI machine must not turn a slow example into a failure.
# In CI, the same examples every run, so a result does not depend on the draw.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, database=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

pytest_plugins = ["tests.logscan"]
