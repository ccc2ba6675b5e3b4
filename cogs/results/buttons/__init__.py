"""Result buttons: ``base`` holds their custom id and owner check, then one module per family."""
