import subprocess
import sys


def test_import_toolkit_loads_no_heavy_dependency():
    code = (
        "import sys, toolkit\n"
        "heavy = {'mlflow', 'umap', 'hdbscan', 'cleanlab', 'matplotlib', 'sklearn'}\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & heavy)\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
