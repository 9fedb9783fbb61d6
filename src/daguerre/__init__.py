"""Daguerre: an image service for clouds that speaks the OpenStack Images API v2."""

__version__ = "0.1.0"
