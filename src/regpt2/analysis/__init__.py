"""Reading results back and comparing them across stages, beside the study's published numbers."""
