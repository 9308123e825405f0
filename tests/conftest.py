"""Shared test configuration. Topic fixtures live in each folder's conftest.py."""
