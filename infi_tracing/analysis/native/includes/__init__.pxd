# Declarations of the reader's headers, one .pxd per it_*.h of infi_tracing/analysis/native/.
