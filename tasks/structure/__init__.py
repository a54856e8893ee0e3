"""Names to folders: the nomenclature, the Frame.io folder path, the structure cache, shared
folder listings."""
