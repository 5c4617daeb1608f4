#include "monitor/backends/xen/ioreq_server.h"

#include <sys/mman.h>

namespace pvm::monitor::xen {

IoreqServer::~IoreqServer() {
  if (bound_) xenevtchn_unbind(xen_->evtchn, port_);
  if (res_) xenforeignmemory_unmap_resource(xen_->fmem, res_);
  if (created_) xendevicemodel_destroy_ioreq_server(xen_->dm, dom_, id_);
}

bool IoreqServer::Start(uint16_t first, uint16_t last, Failure* why) {
  if (xendevicemodel_create_ioreq_server(xen_->dm, dom_, HVM_IOREQSRV_BUFIOREQ_OFF, &id_) < 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "xen: xendevicemodel_create_ioreq_server");
  }
  created_ = true;
  // A range, not single ports: an `outl` at the first port is a 4-byte access over
  // first..first+3, and a range that does not hold it all sends it to Xen's null
  // handler, silently.
  if (xendevicemodel_map_io_range_to_ioreq_server(xen_->dm, dom_, id_, 0, first, last) < 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "xen: xendevicemodel_map_io_range_to_ioreq_server");
  }
  void* addr = nullptr;
  res_ = xenforeignmemory_map_resource(xen_->fmem, dom_, XENMEM_resource_ioreq_server, id_,
                                       XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &addr, PROT_READ | PROT_WRITE, 0);
  if (!res_) return FailErrno(why, ctl::ErrorCode::Internal, "xen: mapping the ioreq page");
  page_ = static_cast<shared_iopage_t*>(addr);
  if (xendevicemodel_set_ioreq_server_state(xen_->dm, dom_, id_, 1) < 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "xen: xendevicemodel_set_ioreq_server_state");
  }
  xenevtchn_port_or_error_t local = xenevtchn_bind_interdomain(xen_->evtchn, dom_, page_->vcpu_ioreq[0].vp_eport);
  if (local < 0) return FailErrno(why, ctl::ErrorCode::Internal, "xen: xenevtchn_bind_interdomain");
  port_ = static_cast<evtchn_port_t>(local);
  bound_ = true;
  return true;
}

int IoreqServer::fd() const { return xenevtchn_fd(xen_->evtchn); }

void IoreqServer::TakeEvents() {
  // One read: the fd blocks when nothing is pending (the caller polled it readable).
  xenevtchn_port_or_error_t p = xenevtchn_pending(xen_->evtchn);
  if (p >= 0) xenevtchn_unmask(xen_->evtchn, static_cast<evtchn_port_t>(p));
}

ioreq_t* IoreqServer::Take() {
  if (!page_ || in_process_) return nullptr;
  ioreq_t* p = &page_->vcpu_ioreq[0];
  // `state` is a bit-field: no atomics on it; fences around plain accesses (as QEMU does).
  if (p->state != STATE_IOREQ_READY) return nullptr;
  __atomic_thread_fence(__ATOMIC_ACQUIRE);  // the request after its state
  p->state = STATE_IOREQ_INPROCESS;
  in_process_ = true;
  return p;
}

void IoreqServer::Complete() {
  if (!in_process_) return;
  in_process_ = false;
  __atomic_thread_fence(__ATOMIC_RELEASE);  // the answer before its state
  page_->vcpu_ioreq[0].state = STATE_IORESP_READY;
  xenevtchn_notify(xen_->evtchn, port_);
}

}  // namespace pvm::monitor::xen
