"""The gnnpart command line."""
