/*
 * wasi_p2_net.c - wasi:sockets, linked and denied.
 *
 * A guest may ask for the instance's network (a handle it can do
 * nothing with), but creating a TCP or UDP socket and resolving a name
 * fail with error-code.access-denied, so no socket, datagram stream or
 * resolver stream ever exists.  Their methods are defined (components
 * that import them link) and trap if reached with a handle, which no
 * guest can hold.
 */
#include "wasi_p2_int.h"

enum { NET_ACCESS_DENIED = 1 };   /* wasi:sockets/network error-code */

static int instance_network(p2_call_t *k) {
  p2_obj_t *o = wh_wasi_p2__obj_new(k, P2_NETWORK);
  if (!o) return P2_TRAPPED;
  return wh_wasi_p2__ret(k, wh_wasi_p2__own(o));
}

/* network-error-code(err: borrow<error>) -> option<error-code>: no error
 * here comes from the network. */
static int network_error_code(p2_call_t *k) {
  if (!wh_wasi_p2__arg_obj(k, 0, P2_ERROR)) return P2_TRAPPED;
  return wh_wasi_p2__ret(k, (wh_cm_val){.kind = WH_CM_V_OPTION});
}

static int create_socket(p2_call_t *k) { return wh_wasi_p2__ret_err_enum(k, NET_ACCESS_DENIED); }

static int resolve_addresses(p2_call_t *k) {
  if (!wh_wasi_p2__arg_obj(k, 0, P2_NETWORK)) return P2_TRAPPED;
  return wh_wasi_p2__ret_err_enum(k, NET_ACCESS_DENIED);
}

/* A method of a socket-side resource: its self handle cannot be valid. */
static int on(p2_call_t *k, p2_kind_t kind) {
  if (!wh_wasi_p2__arg_obj(k, 0, kind)) return P2_TRAPPED;
  return wh_wasi_p2__ret_err_enum(k, NET_ACCESS_DENIED);
}
static int tcp_method(p2_call_t *k) { return on(k, P2_TCP); }
static int udp_method(p2_call_t *k) { return on(k, P2_UDP); }
static int resolve_method(p2_call_t *k) { return on(k, P2_RESOLVE); }
static int dgram_in_method(p2_call_t *k) { return on(k, P2_DGRAM_IN); }
static int dgram_out_method(p2_call_t *k) { return on(k, P2_DGRAM_OUT); }

#define TCP(m) {"sockets/tcp#[method]tcp-socket." m, tcp_method}
#define UDP(m) {"sockets/udp#[method]udp-socket." m, udp_method}

const p2_fn_t wh_wasi_p2__net_fns[] = {
  {"sockets/instance-network#instance-network", instance_network},
  {"sockets/network#network-error-code", network_error_code},
  {"sockets/tcp-create-socket#create-tcp-socket", create_socket},
  {"sockets/udp-create-socket#create-udp-socket", create_socket},
  {"sockets/ip-name-lookup#resolve-addresses", resolve_addresses},
  {"sockets/ip-name-lookup#[method]resolve-address-stream.resolve-next-address",
   resolve_method},
  {"sockets/ip-name-lookup#[method]resolve-address-stream.subscribe", resolve_method},
  TCP("start-bind"), TCP("finish-bind"), TCP("start-connect"), TCP("finish-connect"),
  TCP("start-listen"), TCP("finish-listen"), TCP("accept"), TCP("local-address"),
  TCP("remote-address"), TCP("is-listening"), TCP("address-family"),
  TCP("set-listen-backlog-size"), TCP("keep-alive-enabled"), TCP("set-keep-alive-enabled"),
  TCP("keep-alive-idle-time"), TCP("set-keep-alive-idle-time"), TCP("keep-alive-interval"),
  TCP("set-keep-alive-interval"), TCP("keep-alive-count"), TCP("set-keep-alive-count"),
  TCP("hop-limit"), TCP("set-hop-limit"), TCP("receive-buffer-size"),
  TCP("set-receive-buffer-size"), TCP("send-buffer-size"), TCP("set-send-buffer-size"),
  TCP("subscribe"), TCP("shutdown"),
  UDP("start-bind"), UDP("finish-bind"), UDP("stream"), UDP("local-address"),
  UDP("remote-address"), UDP("address-family"), UDP("unicast-hop-limit"),
  UDP("set-unicast-hop-limit"), UDP("receive-buffer-size"), UDP("set-receive-buffer-size"),
  UDP("send-buffer-size"), UDP("set-send-buffer-size"), UDP("subscribe"),
  {"sockets/udp#[method]incoming-datagram-stream.receive", dgram_in_method},
  {"sockets/udp#[method]incoming-datagram-stream.subscribe", dgram_in_method},
  {"sockets/udp#[method]outgoing-datagram-stream.check-send", dgram_out_method},
  {"sockets/udp#[method]outgoing-datagram-stream.send", dgram_out_method},
  {"sockets/udp#[method]outgoing-datagram-stream.subscribe", dgram_out_method},
  {NULL, NULL},
};
