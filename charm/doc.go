package charm
