"""All side effects, as methods of classes that receive their resources in __init__."""
