//! The painting document: a label map of class ids, the tools that edit it, and undo.
