"""Ops: each calls the backend primitive set and records its backward node."""
