"""clfwatch: watches deployed text classifiers, stresses them and grades them."""
