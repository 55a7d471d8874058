"""A small Chrome DevTools Protocol driver for the console tests (real headless Chromium)."""
