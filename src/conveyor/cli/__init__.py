"""The ``conveyor`` command line: thin, it parses, calls the API and prints."""
