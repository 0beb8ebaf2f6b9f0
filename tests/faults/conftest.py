"""Every test under tests/faults/ is marked ``faults``: crashes, full disks, hostile input, load."""
from pathlib import Path

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    # Hooks in a conftest see the whole session's items, so pick this folder's own.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker("faults")
