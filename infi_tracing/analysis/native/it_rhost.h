/* Hosts in a record's pid.  Traces collected by a central syslog daemon
 * come from many hosts whose pids may collide, so the syslog text source
 * (it_rtext.h) keeps them apart by putting the host, as an entry of the
 * function table (module "", qualname the host name, file "<host>"), in the
 * high 32 bits of it_rrec.pid.  Pairing and every per-pid key then tell the
 * hosts apart for free; what is shown uses the real pid and the host name.
 * Records of other sources have host 0. */
#ifndef IT_RHOST_H
#define IT_RHOST_H

#include <stdint.h>

#define IT_RREC_PID_REAL(pid) ((int64_t)((uint64_t)(pid) & 0xFFFFFFFFu))
#define IT_RREC_HOST(pid) ((uint32_t)((uint64_t)(pid) >> 32))

#endif
