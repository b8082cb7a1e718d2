"""The portal's pages, one blueprint per audience: session, HR staff, managers."""
