"""Teams app manifest, icons and app-package build for PIM Bot (no botbuilder imports here)."""
