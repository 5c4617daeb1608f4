// <linux/kvm.h> with the layouts C sees. Include this, never <linux/kvm.h> directly.
//
// Older UAPI headers (Debian 12 ships 6.1) declare flexible arrays with
// __DECLARE_FLEX_ARRAY, an anonymous struct whose empty first member has size 1 in C++
// but 0 in C. In C++ that moves the arrays (kvm_cpuid2::entries sits at 12, not 8) and
// changes the sizes encoded in the ioctl numbers (KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2,
// KVM_GET/SET_MSRS, KVM_GET_MSR_INDEX_LIST, KVM_SET_SIGNAL_MASK, KVM_GET/SET_XSAVE), which
// KVM then rejects with EINVAL. Newer headers define the macro this way for C++ themselves.
#pragma once

#include <linux/stddef.h>
#undef __DECLARE_FLEX_ARRAY
#define __DECLARE_FLEX_ARRAY(TYPE, NAME) TYPE NAME[]
#include <linux/kvm.h>

#include <cstddef>

static_assert(sizeof(kvm_cpuid2) == 8 && offsetof(kvm_cpuid2, entries) == 8, "kvm_cpuid2 as in C");
static_assert(sizeof(kvm_msrs) == 8 && offsetof(kvm_msrs, entries) == 8, "kvm_msrs as in C");
static_assert(sizeof(kvm_msr_list) == 4 && offsetof(kvm_msr_list, indices) == 4, "kvm_msr_list as in C");
static_assert(sizeof(kvm_signal_mask) == 4 && offsetof(kvm_signal_mask, sigset) == 4, "kvm_signal_mask as in C");
static_assert(sizeof(kvm_xsave) == 4096, "kvm_xsave as in C");
