# Package marker for cimport (the analysis module's C declarations live in includes/).
