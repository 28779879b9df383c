// Package edge is the gateway's domain: events, devices, the driver and output
// interfaces, the durable log contract, and the Gateway that wires them.
//
// The main flow:
//
//	driver.Run(ctx, sink)          a device family reads its hardware
//	  sink.Emit(Event)             the reading enters the core
//	    Log.Append                 (epoch, seq) assigned, group-committed, fsynced
//	      cursor "rules"  -> rules engine -> alerts appended, actions queued -> Output.Apply
//	      cursor "uplink" -> sync/uplink  -> central platform (dedupes by gateway, epoch, seq)
//
// Nothing downstream of the log can block ingest: consumers are cursors over
// the durable log, and they catch up at their own pace.
//
// edge imports no driver and no sync package; they import edge.
package edge
