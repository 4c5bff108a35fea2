"""The policy the benchmarks run the service with: open every hour of every day, so a
figure never depends on when the bench runs; no automatic callbacks."""

ALWAYS_OPEN = """timezone = "Europe/London"
[opening_hours]
monday = ["00:00-24:00"]
tuesday = ["00:00-24:00"]
wednesday = ["00:00-24:00"]
thursday = ["00:00-24:00"]
friday = ["00:00-24:00"]
saturday = ["00:00-24:00"]
sunday = ["00:00-24:00"]
[holidays]
country = ""
closures = []
[callbacks]
abandoned_after_seconds = 0
out_of_hours = false
"""
