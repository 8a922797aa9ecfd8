//! The workspace root package. It holds no code of its own: its `tests/`
//! directory runs real `duet` processes in temporary homes, end to end.
