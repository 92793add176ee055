"""The screens and dialogs of the desktop app; each takes the shared ``AppState``."""
