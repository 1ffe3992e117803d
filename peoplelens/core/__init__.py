"""The bottom layer every other package may use: frame and detection types, the shared state types
(People Map entries, audio events, seen signals, a frame's result), errors and configuration loading.
Imports nothing of the project."""
