// The bootstrap inside a package panel iframe (to be written).
