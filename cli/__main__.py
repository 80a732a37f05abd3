"""`python -m tfrec.cli` runs the tfrec command line."""
from .main import main

main()
