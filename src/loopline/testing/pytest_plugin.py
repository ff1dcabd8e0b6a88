"""loopline's pytest plugin, registered through the `pytest11` entry point when loopline is installed."""
