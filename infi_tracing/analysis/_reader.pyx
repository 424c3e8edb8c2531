# cython: language_level=3, boundscheck=False, wraparound=False
# The analysis extension module: the native trace reader and what consumes
# its records, assembled from the included .pyx files below like
# infi_tracing.native._core, with the per-record work in the C headers of
# native/ (it_read_binary.h, it_reader.h, ...).
#
#   reader.pyx     NativeReader: inputs, filters, records for Python and for
#                  the other .pyx files (cdef next())
#   write.pyx      text and JSON lines to an fd: decode, replay
#   pftrace.pyx    decode --format perfetto-proto (it_pftrace.h, shared with
#                  the live perfetto+proto:// sink)
#   report.pyx     report's rows (native/it_report.h)
#   graph.pyx      graph's trees below and above a function (native/it_graph.h)
#   greenlets.pyx  greenlets' running times and long stretches (native/it_glets.h)
#
# This module never imports the tracer (infi_tracing._api, native._core):
# a trace is read on machines that never traced.  C declarations come from
# native/includes/, one .pxd per header.

import os as _os

from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset
from infi_tracing.native.includes.it_events cimport (
    IT_EV_CALL, IT_EV_LOST, IT_EV_LOG, IT_EV_SWITCH, IT_EV_OMITTED, it_event_has_code)
from infi_tracing.analysis.native.includes.it_rrec cimport it_rrec, it_rfunc
from infi_tracing.analysis.native.includes.it_rfuncs cimport it_rfuncs_get
from infi_tracing.analysis.native.includes.it_reader cimport (
    it_reader, it_reader_init, it_reader_destroy, it_reader_next, it_reader_current)
from infi_tracing.analysis.native.includes.it_rwrite cimport (
    it_rwrite, it_rwrite_init, it_rwrite_flush, it_rwrite_destroy, it_rwrite_record)
from infi_tracing.analysis.native.includes.it_replay cimport (
    it_replay, it_replay_init, it_replay_destroy, it_replay_record)
from infi_tracing.native.includes.it_lines cimport IT_FORMAT_TEXT, IT_FORMAT_JSONL
from cpython.exc cimport PyErr_CheckSignals

include "reader.pyx"
include "write.pyx"
include "pftrace.pyx"
include "report.pyx"
include "graph.pyx"
include "greenlets.pyx"
