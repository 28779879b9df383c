package store

// DefaultMemoryBudget is Options.MemoryBudget's default.
const DefaultMemoryBudget = 64 << 20

// MinMemoryBudget is the smallest budget the store accepts; a smaller one is
// raised to it.
const MinMemoryBudget = 32 << 20

// memPlan is how the store spends its memory budget.
//
// What it bounds: the Go heap (the Go runtime's soft memory limit, which
// Badger's memtable arenas, table builders and iterators live under, as do
// the commit queue and the zstd encoder), the bytes of events waiting for a
// commit, Badger's caches, and the table pages mapped into the process
// (pages.go). What it does not: the binary's own mapped pages (~13 MiB
// for edgegw) and goroutine stacks.
type memPlan struct {
	goLimit      int64 // the Go soft memory limit: 5/8 of the budget
	queueBytes   int64 // events waiting for a commit: 1/16
	indexCache   int64 // Badger's table index cache: 1/64
	blockCache32 int64 // Badger's block cache, 32-bit only: 1/64
	mapped       int64 // table pages kept mapped between releases: 1/32
}

func memoryPlan(budget int64) memPlan {
	if budget <= 0 {
		budget = DefaultMemoryBudget
	}
	budget = max(budget, MinMemoryBudget)
	return memPlan{
		goLimit:      budget / 8 * 5,
		queueBytes:   budget / 16,
		indexCache:   budget / 64,
		blockCache32: budget / 64,
		mapped:       budget / 32,
	}
}
