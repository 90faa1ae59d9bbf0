"""The chained engine: speech-to-text -> language model -> text-to-speech, with swappable parts."""
