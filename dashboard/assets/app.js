// The dashboard page (to be written).
