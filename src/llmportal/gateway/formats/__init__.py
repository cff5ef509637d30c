"""Wire formats at the edge. Each module offers the same functions (see openai.py)."""
