"""`python -m policylang ...` runs the command line, as `policylang ...` does."""

from .cli import main

if __name__ == "__main__":
    main()
