"""Scale-out of the read side (#16): tiled on a PostgreSQL catalog with several workers."""
