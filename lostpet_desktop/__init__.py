"""The LostPet desktop application (PySide6)."""
