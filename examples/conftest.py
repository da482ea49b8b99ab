"""Enable the emulator's pytest fixtures, as a project's own conftest.py would."""

pytest_plugins = ["voicenter_async.testing.pytest_plugin"]
