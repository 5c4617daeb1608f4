// The transport on xen: an ioreq server for the domain's monitor ports (the hypercall
// doorbell, the floor port, the fault port). The guest's `out` there reaches the monitor
// as an ioreq on the vCPU's shared page plus an event; the vCPU waits until the monitor
// marks it answered. An ioreq carries port, size, direction and the written value only,
// which is all the transport needs (registers cost a hypercall each: avoided).
#pragma once

#include <cstdint>

#include "monitor/backends/xen/xen_libs.h"
#include "monitor/failure.h"

extern "C" {
#include <xen/hvm/ioreq.h>
}

namespace pvm::monitor::xen {

class IoreqServer {
 public:
  IoreqServer(XenHandles* xen, uint32_t domid) : xen_(xen), dom_(domid) {}
  ~IoreqServer();
  IoreqServer(const IoreqServer&) = delete;
  IoreqServer& operator=(const IoreqServer&) = delete;

  // Creates the server for ports [first, last], maps its page, enables it, binds its event.
  bool Start(uint16_t first, uint16_t last, Failure* why);
  // The event channel's fd, readable when the guest made a request.
  int fd() const;
  // Takes the events that arrived (and unmasks the port).
  void TakeEvents();
  // The request vCPU 0 made and nobody took yet, now marked in process; nullptr if none.
  ioreq_t* Take();
  // Answers the request in process: the vCPU goes on.
  void Complete();
  bool in_process() const { return in_process_; }
  // A request is waiting that nobody took yet (the vCPU made it and waits for its answer).
  bool waiting() const { return page_ && !in_process_ && page_->vcpu_ioreq[0].state == STATE_IOREQ_READY; }

 private:
  XenHandles* xen_;
  uint32_t dom_;
  ioservid_t id_ = 0;
  bool created_ = false;
  xenforeignmemory_resource_handle* res_ = nullptr;
  shared_iopage_t* page_ = nullptr;
  evtchn_port_t port_ = 0;
  bool bound_ = false;
  bool in_process_ = false;
};

}  // namespace pvm::monitor::xen
