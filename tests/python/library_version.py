"""Prints MPI.Get_library_version() (first line prefixed "library: "), the
MPI version and mpi4py's idea of the vendor. With RMPI_EXPECT=1 in the
environment, fails unless the library version names rmpi.
"""

import os

from mpi4py import MPI

text = MPI.Get_library_version()
first = text.strip().splitlines()[0] if text.strip() else ""
if MPI.COMM_WORLD.Get_rank() == 0:
    print(f"library: {first}")
    print(f"version: MPI {MPI.Get_version()[0]}.{MPI.Get_version()[1]}")
    print(f"vendor: {MPI.get_vendor()}", flush=True)
if os.environ.get("RMPI_EXPECT") == "1":
    assert "rmpi" in text.lower(), f"Get_library_version does not name rmpi: {text!r}"
